"""Certificate authorities and certificates arrive with the Plug & Charge issue."""
