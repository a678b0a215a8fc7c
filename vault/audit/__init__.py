"""The audit trail: an event per access and change, written in the same transaction as what
it records, sealed in Merkle batches chained under an HMAC'd head, and verified."""
