"""Model cards (installed as optim.cards). Written by make_cards.py; see that file."""
