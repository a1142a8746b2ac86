"""Threshold cryptography core: groups, encodings, ElGamal, Shamir/VSS, DKG, proofs.

This layer imports nothing from the rest of Quorum.
"""
