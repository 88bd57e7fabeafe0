"""The information-sharing platform: the only way one bureau tells another anything."""
