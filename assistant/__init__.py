"""News question answering: retrieval, answers and chat over an index of Vietnamese news."""
