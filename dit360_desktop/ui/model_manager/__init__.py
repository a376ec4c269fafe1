"""model_manager"""
