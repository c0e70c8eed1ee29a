"""ISO 15118-2 messages as Plug & Charge needs them: the EXI codec and the signed,
encrypted contract-certificate installation (Annex J of ISO 15118-2)."""
