"""Model classes and the stores that keep them."""
