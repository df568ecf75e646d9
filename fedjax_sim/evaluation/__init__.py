"""Evaluation: test metrics, client-level metrics, held-out client data and
personalization."""
