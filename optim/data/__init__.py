"""Data shipped with optim: GPU profiles and the compact WonderProxy RTT set (see PROVENANCE.md)."""
