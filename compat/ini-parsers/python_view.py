"""Prints, as JSON, how fail2ban 1.0.2's parser (Python's configparser with
fail2ban's settings) reads each file given on the command line: raw values,
per section, DEFAULT included. Used by the ini-parsers comparison."""
import json, sys
sys.path.insert(0, '/usr/lib/python3/dist-packages')
from fail2ban.client.configparserinc import SafeConfigParserWithIncludes

out = {}
for path in sys.argv[1:]:
    cfg = SafeConfigParserWithIncludes()
    try:
        cfg.read(path, get_includes=False)
    except Exception as e:  # a file Python refuses
        out[path] = {"error": str(e)}
        continue
    view = {"DEFAULT": dict(cfg._defaults)}
    for name, section in cfg._sections.items():
        view[name] = dict(section)
    out[path] = view
print(json.dumps(out))
