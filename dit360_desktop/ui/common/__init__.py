"""Types and services the UI features share (``AppContext``, jobs, the form, the camera).

Imports no feature folder."""
