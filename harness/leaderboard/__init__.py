"""Leaderboard: results files -> ranked rows, and (later) the static site."""
