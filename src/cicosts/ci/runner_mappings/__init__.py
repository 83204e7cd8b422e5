"""An organization's own runner labels and groups, priced as a SKU or at its own rate."""
