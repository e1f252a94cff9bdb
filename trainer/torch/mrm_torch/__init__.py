"""A learned multimodal reward model for mrm-serve, trained with PyTorch and
exported into bundle v1 (see ../README.md)."""
