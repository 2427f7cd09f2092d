"""The sandbox: a local Discord (the emulator), a fake Roblox and a browser page to act as any member.

`python manage.py runbot --sandbox` uses it; the tests use the emulator and the fake Roblox too. Nothing in the
bot or the apps imports this package.
"""
