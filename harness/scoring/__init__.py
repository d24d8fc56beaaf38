"""Scoring: answers extracted from model text and the metrics computed over them."""
