"""Untrusted code (generated or from a dataset) runs only here: isolated processes and the verdict protocol."""
