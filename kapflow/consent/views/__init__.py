"""The consent pages: a client's consents (signing) and the practice's documents (documents)."""
