"""scifikpi_tools"""
