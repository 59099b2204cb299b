"""Data: stimuli and image folders -> device-resident uint8 tensors, and augmentation on the device.
"""
