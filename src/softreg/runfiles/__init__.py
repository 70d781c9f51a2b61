"""What a run leaves behind: safetensors checkpoints and their metadata, the report, TensorBoard
event files.
"""
