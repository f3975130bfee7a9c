"""The factory's container images: one Dockerfile per deployable, and `images.build`, which builds them."""
