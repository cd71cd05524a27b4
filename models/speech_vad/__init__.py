"""The project's small speech-activity segmentation model (pyannote.audio PyanNet), its data and training."""
