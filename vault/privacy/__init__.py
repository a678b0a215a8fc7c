"""Data-subject requests: intake and verification (the desk), the export, the queue with its
deadlines, and the signed documents; erasure itself is governance's (shared with retention)."""
