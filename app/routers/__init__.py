"""One router per concern; ``app.main`` includes them."""
