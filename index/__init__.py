"""Corpus loading, chunking, embedding and the on-disk index (FAISS + SQLite + manifest)."""
