import { useState, type FormEvent } from 'react';
import { devSignIn, type Session } from '../session';
import { ErrorText } from './Feedback';

/** Development sign-in: any user id, an optional name, role and businesses (POST /dev/token). */
export function SignIn({ onSignedIn }: { onSignedIn(session: Session): void }) {
  const [userId, setUserId] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState('user');
  const [businesses, setBusinesses] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!userId.trim()) return setError('Enter a user id.');
    setBusy(true);
    setError(null);
    try {
      const businessIds = businesses
        .split(',')
        .map((b) => b.trim())
        .filter(Boolean);
      onSignedIn(
        await devSignIn({
          userId: userId.trim(),
          ...(name.trim() ? { name: name.trim() } : {}),
          ...(role !== 'user' ? { role } : {}),
          ...(businessIds.length ? { businessIds } : {}),
        }),
      );
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };

  return (
    <main className="signin">
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Chat</h1>
        <p className="muted">Development sign-in: anyone can be anyone. In production your platform signs you in.</p>
        <label>
          User ID
          <input value={userId} onChange={(e) => setUserId(e.target.value)} autoComplete="username" required autoFocus />
        </label>
        <label>
          Name <span className="muted">(optional)</span>
          <input value={name} onChange={(e) => setName(e.target.value)} autoComplete="name" />
        </label>
        <label>
          Role
          <select value={role} onChange={(e) => setRole(e.target.value)}>
            <option value="user">user</option>
            <option value="support">support</option>
            <option value="admin">admin</option>
          </select>
        </label>
        <label>
          Businesses <span className="muted">(comma-separated ids, optional)</span>
          <input value={businesses} onChange={(e) => setBusinesses(e.target.value)} />
        </label>
        <ErrorText error={error} />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}
