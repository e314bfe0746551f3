// A process's resident memory from the text of /proc/PID/status (read here or in a guest), in bytes: all of it,
// anonymous (its heap and stacks) and file-backed (pages of its executable and libraries it touched).
export interface Resident {
  rssBytes: number;
  rssAnonBytes: number;
  rssFileBytes: number;
}

export function residentFromStatus(status: string): Resident {
  const bytes = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (!m) throw new Error(`/proc status has no ${key} line`);
    return Number(m[1]) * 1024;
  };
  return { rssBytes: bytes('VmRSS'), rssAnonBytes: bytes('RssAnon'), rssFileBytes: bytes('RssFile') };
}
