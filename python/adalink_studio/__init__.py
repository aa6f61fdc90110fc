"""AdaLink Studio adapters in Python: read and write the studio's adapter file (pure Python), use it in
PyTorch (adalink_studio.torch_adapter) and with Hugging Face models (adalink_studio.hf).

    from adalink_studio import read_adapter_file            # no numpy, no torch
    from adalink_studio.torch_adapter import AdaLinkAdapter  # torch
    from adalink_studio.hf import AdaptedModel, merge        # torch + transformers
"""
from .adapter_file import (FORMAT, MODALITIES, AdapterFile, ModalityWeights, check_base_model, parse_hub_id,
                           read_adapter_file, write_adapter_file)
from .errors import AdapterError, AdapterFormatError, AdapterUsageError, BaseModelMismatchError

__version__ = "0.1.0"
__all__ = ["FORMAT", "MODALITIES", "AdapterFile", "ModalityWeights", "check_base_model", "parse_hub_id",
           "read_adapter_file", "write_adapter_file", "AdapterError", "AdapterFormatError", "AdapterUsageError",
           "BaseModelMismatchError", "__version__"]
