"""Flask, Django, Pyramid, Bottle, PasteDeploy and the example shops."""
