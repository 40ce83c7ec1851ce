"""The Bedrock model catalogue: documented model and profile ids, and what an identifier resolves to."""

from .catalog import Catalog, ModelRef

__all__ = ["Catalog", "ModelRef"]
