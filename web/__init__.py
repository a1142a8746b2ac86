"""The web interface for administrators, trustees, voters and the public."""
