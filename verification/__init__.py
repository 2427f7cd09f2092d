"""Verification: linking Discord members to Roblox accounts."""
