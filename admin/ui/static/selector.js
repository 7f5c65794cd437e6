// Selectors as wsd parses them (daemon/selector.go): requirements joined
// by commas, all of which must hold; `=` (or `==`) and `!=` compare a
// built-in field (id, user, route, remote_addr) or a label, an absent
// label comparing as "". The API validates the selector when the list is
// loaded; this matches the connections that the event stream announces.

/** parse returns a matcher function, or throws on a malformed selector. */
export function parse(s) {
  s = (s || '').trim();
  if (s === '' || s === 'all') return () => true;
  const reqs = s.split(',').map((part) => {
    const i = part.search(/[=!]/);
    if (i < 0) throw new Error(`selector: "${part.trim()}" has no = or !=`);
    const key = part.slice(0, i).trim();
    let rest = part.slice(i);
    let not = false;
    if (rest.startsWith('!=')) {
      not = true;
      rest = rest.slice(2);
    } else if (rest.startsWith('==')) rest = rest.slice(2);
    else if (rest.startsWith('=')) rest = rest.slice(1);
    else throw new Error(`selector: "${part.trim()}": expected = or != after "${key}"`);
    if (!/^[A-Za-z0-9][A-Za-z0-9_./-]{0,62}$/.test(key)) throw new Error(`selector: bad key "${key}"`);
    return { key, value: rest.trim(), not };
  });
  return (c) => reqs.every((r) => (field(c, r.key) === r.value) !== r.not);
}

function field(c, key) {
  switch (key) {
    case 'id':
      return c.id || '';
    case 'user':
      return c.user || '';
    case 'route':
      return c.route || '';
    case 'remote_addr':
      return c.remote_addr || '';
    default:
      return (c.labels && c.labels[key]) || '';
  }
}
