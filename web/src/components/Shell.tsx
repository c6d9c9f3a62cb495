import { useChat } from '../chat';
import { hrefOf, useRoute } from '../route';
import { Banner } from './Banner';
import { RoomList } from './RoomList';
import { NewChat } from './NewChat';
import { RoomView } from './RoomView';
import { SearchScreen } from './Search';
import { SupportQueue } from './SupportQueue';
import { PushToggle } from './PushToggle';
import { SuspendedBanner } from './SuspendedBanner';

/** The signed-in layout: the room list beside the open screen (one at a time on a phone). */
export function Shell() {
  const { userId, name, role, signOut } = useChat();
  const route = useRoute();
  const staff = role === 'support' || role === 'admin';
  return (
    <div className={`shell ${route.screen === 'home' ? 'at-home' : 'at-screen'}`}>
      <div className="banners">
        <Banner />
        <SuspendedBanner />
      </div>
      <aside className="sidebar">
        <header className="me">
          <span className="me-name" title={userId}>
            {name ?? userId}
          </span>
          <button type="button" className="link" onClick={signOut}>
            Sign out
          </button>
        </header>
        <div className="tools">
          <NewChat />
          <a className="button secondary" href={hrefOf({ screen: 'search' })}>
            Search
          </a>
          {staff && (
            <a className="button secondary" href={hrefOf({ screen: 'support' })}>
              Support queue
            </a>
          )}
          <PushToggle />
        </div>
        <RoomList activeId={route.screen === 'room' ? route.roomId : null} />
      </aside>
      <main className="screen">
        {route.screen === 'room' && <RoomView key={route.roomId} roomId={route.roomId} messageId={route.messageId} />}
        {route.screen === 'search' && <SearchScreen />}
        {route.screen === 'support' && <SupportQueue />}
        {route.screen === 'home' && (
          <div className="empty">
            <h2>Welcome</h2>
            <p>Pick a room on the left, or start a new chat.</p>
          </div>
        )}
      </main>
    </div>
  );
}
