import { useCallback, useEffect, useMemo, useState } from 'react';
import { ChatClient, ChatError } from 'chat-service/client';
import { ChatContext, type ChatContextValue } from './chat';
import { expired, loadSession, renewToken, saveSession, sessionFromMessage, type Session } from './session';
import { SignIn } from './components/SignIn';
import { Shell } from './components/Shell';
import { dropPushSubscription } from './components/PushToggle';
import { ReportProvider } from './components/ReportDialog';

export function App() {
  const [session, setSession] = useState<Session | null>(loadSession);

  useEffect(() => {
    // The embedding platform may hand over (or replace) the token at any time.
    const onMessage = (e: MessageEvent) => {
      const next = sessionFromMessage(e);
      if (next) {
        saveSession(next);
        setSession(next);
      }
    };
    // A token put in the address of an app already open (`#token=`) signs in as that user, like a fresh load does.
    const onHash = () => {
      if (!/(?:^#|&)token=/.test(location.hash)) return;
      const next = loadSession();
      if (next) setSession(next);
    };
    addEventListener('message', onMessage);
    addEventListener('hashchange', onHash);
    return () => {
      removeEventListener('message', onMessage);
      removeEventListener('hashchange', onHash);
    };
  }, []);

  const signIn = useCallback((next: Session) => {
    saveSession(next);
    setSession(next);
  }, []);
  const signOut = useCallback(() => {
    saveSession(null);
    setSession(null);
  }, []);

  if (!session) return <SignIn onSignedIn={signIn} />;
  return <Connected key={session.userId} session={session} onSignOut={signOut} />;
}

function Connected({ session, onSignOut }: { session: Session; onSignOut(): void }) {
  const client = useMemo(() => {
    let current = session;
    return new ChatClient({
      url: location.origin,
      token: async () => {
        if (expired(current.token, 60)) {
          current = { ...current, token: await renewToken(current) };
          saveSession(current);
        }
        return current.token;
      },
    });
  }, [session]);
  const [failure, setFailure] = useState<string | null>(null);

  useEffect(() => {
    client.connect().catch((err: unknown) => {
      if (err instanceof ChatError && err.code === 'UNAUTHORIZED') onSignOut();
      else if (!(err instanceof ChatError && err.code === 'CLOSED')) setFailure(String((err as Error).message ?? err));
    });
    return () => void client.close();
  }, [client, onSignOut]);

  const signOut = useCallback(() => {
    void dropPushSubscription(client.api).finally(onSignOut);
  }, [client, onSignOut]);
  const value: ChatContextValue = useMemo(
    () => ({ client, userId: session.userId, role: session.role, name: session.name, signOut }),
    [client, session, signOut],
  );
  return (
    <ChatContext.Provider value={value}>
      {failure && (
        <p role="alert" className="failure">
          {failure}
        </p>
      )}
      <ReportProvider>
        <Shell />
      </ReportProvider>
    </ChatContext.Provider>
  );
}
