"""Prefect Block types of QuarryCore. Register them with::

prefect block register -m quarrycore.blocks
"""

from quarrycore.blocks.checkpoint import PipelineCheckpointBlock, checkpoint_block_name

__all__ = ["PipelineCheckpointBlock", "checkpoint_block_name"]
