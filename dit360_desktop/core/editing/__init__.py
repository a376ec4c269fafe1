"""Masked editing of panoramas: the published DiT360 method ("reference") and ours ("blend")."""
