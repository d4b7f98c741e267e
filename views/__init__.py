"""The HTTP surface, one blueprint per module. Views authenticate, validate, enqueue and answer."""
