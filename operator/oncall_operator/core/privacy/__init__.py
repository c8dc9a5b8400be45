"""Pure decisions of the privacy kinds: finding and redacting a subject, and what retention prunes."""
