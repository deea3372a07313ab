"""Resident participation (居民参与): phone registration with SMS codes, public nearby cases and 附议, notices and
monthly disclosure (公告/公开), and suggestions (建议/意见) with staff replies."""
