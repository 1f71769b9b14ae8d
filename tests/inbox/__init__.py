"""The inbox: the one decision, the step, every backend (test_inbox.py: the contract)."""
