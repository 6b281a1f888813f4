"""history/calibration"""
