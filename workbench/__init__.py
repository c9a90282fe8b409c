"""HRNet Workbench: HRNet classifiers from timm, mmcls or the official repo to a measured deployment."""

__version__ = "0.1.0"
