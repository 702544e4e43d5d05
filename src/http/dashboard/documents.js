// The dashboard's Documents panel (written next).
