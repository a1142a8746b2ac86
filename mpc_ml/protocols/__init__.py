"""Protocols over Shamir shares: sharing and opening, multiplication, comparison, functions."""
