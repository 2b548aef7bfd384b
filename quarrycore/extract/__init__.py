"""The extract stage: main text and metadata, quality filters, near-duplicate signatures,
and the extraction processes that run them."""
