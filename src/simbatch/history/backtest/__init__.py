"""history/backtest"""
