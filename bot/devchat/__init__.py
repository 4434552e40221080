"""Development tools that play Microsoft Teams locally: a connector stub and a terminal chat."""
