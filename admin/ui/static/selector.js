// Selectors as wsd parses them (session/selector.go): requirements joined
// by commas, all of which must hold. KEY=VALUE (or ==), KEY!=VALUE,
// KEY in (A,B), KEY notin (A,B), KEY (present) and !KEY (absent), over a
// built-in field (id, user, route, remote_addr; present when not empty) or
// a label (an absent label compares as "" for = and !=). The API validates
// the selector when the list is loaded; this matches the connections that
// the event stream announces.

const keyRe = /^[A-Za-z0-9][A-Za-z0-9_./-]{0,62}$/;

/** split cuts s at the commas outside parentheses. */
function split(s) {
  const parts = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '(') depth++;
    else if (s[i] === ')') depth--;
    else if (s[i] === ',' && depth === 0) {
      parts.push(s.slice(from, i));
      from = i + 1;
    }
  }
  parts.push(s.slice(from));
  return parts;
}

function checkKey(key) {
  if (!keyRe.test(key)) throw new Error(`selector: bad key "${key}"`);
  return key;
}

function requirement(part) {
  part = part.trim();
  const list = part.match(/^(\S+)\s+(in|notin)\s*\((.*)\)$/);
  if (list) {
    const values = list[3].split(',').map((v) => v.trim());
    return { key: checkKey(list[1]), op: list[2], values };
  }
  const i = part.search(/[=!]/);
  if (i < 0) return { key: checkKey(part), op: 'exists' };
  if (i === 0 && !part.startsWith('!=')) return { key: checkKey(part.slice(1).trim()), op: 'absent' };
  const key = checkKey(part.slice(0, i).trim());
  let rest = part.slice(i);
  let op = '=';
  if (rest.startsWith('!=')) {
    op = '!=';
    rest = rest.slice(2);
  } else if (rest.startsWith('==')) rest = rest.slice(2);
  else if (rest.startsWith('=')) rest = rest.slice(1);
  else throw new Error(`selector: "${part}": expected =, != or a list after "${key}"`);
  return { key, op, values: [rest.trim()] };
}

/** parse returns a matcher function, or throws on a malformed selector. */
export function parse(s) {
  s = (s || '').trim();
  if (s === '' || s === 'all') return () => true;
  const reqs = split(s).map(requirement);
  return (c) =>
    reqs.every((r) => {
      const [v, ok] = field(c, r.key);
      switch (r.op) {
        case '=':
          return v === r.values[0];
        case '!=':
          return v !== r.values[0];
        case 'in':
          return ok && r.values.includes(v);
        case 'notin':
          return !ok || !r.values.includes(v);
        case 'exists':
          return ok;
        default:
          return !ok;
      }
    });
}

/** field returns [value, present]. */
function field(c, key) {
  let v;
  switch (key) {
    case 'id':
      v = c.id || '';
      break;
    case 'user':
      v = c.user || '';
      break;
    case 'route':
      v = c.route || '';
      break;
    case 'remote_addr':
      v = c.remote_addr || '';
      break;
    default: {
      const present = !!c.labels && Object.prototype.hasOwnProperty.call(c.labels, key);
      return [present ? c.labels[key] : '', present];
    }
  }
  return [v, v !== ''];
}
