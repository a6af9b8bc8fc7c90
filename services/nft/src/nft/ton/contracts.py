"""The reference TEP-62 NFT contracts (ton-blockchain/token-contract `nft-collection.fc` and the
standard `nft-item.fc`), their initial state and message bodies, built offline.

The code cells come from `ton_core` (a dependency of tonutils) and are pinned by hash at import: a
dependency upgrade that changed them would change every item address, so it must fail loudly.
TL-B layouts: TEP-62 (NFT standard) and TEP-64 (token data standard); ton_core's `nft.tlb`.
"""

from __future__ import annotations

from pytoniq_core import Address, Cell, StateInit, begin_cell
from ton_core.contrib.contracts.codes import CONTRACT_CODES
from ton_core.contrib.contracts.nft.tlb import (
    NFTCollectionContent,
    NFTCollectionData,
    NFTCollectionMintItemBody,
    NFTItemStandardMintRef,
    NFTTransferBody,
    OffchainCommonContent,
    OffchainContent,
    OffchainItemContent,
    RoyaltyParams,
)
from ton_core.contrib.contracts.versions import ContractVersion

COLLECTION_CODE_HASH = "8e5aab17e2e503bec75c2f453b9dacf11a98bbb2cc202994710952a7271c7780"
ITEM_CODE_HASH = "4c9123828682fa6f43797ab41732bca890cae01766e0674100250516e0bf8d42"

COLLECTION_CODE: Cell = Cell.one_from_boc(
    bytes.fromhex(CONTRACT_CODES[ContractVersion.NFTCollectionStandard])
)
ITEM_CODE: Cell = Cell.one_from_boc(bytes.fromhex(CONTRACT_CODES[ContractVersion.NFTItemStandard]))

if COLLECTION_CODE.hash.hex() != COLLECTION_CODE_HASH:  # pragma: no cover - dependency drift
    raise RuntimeError(f"NFT collection code hash changed: {COLLECTION_CODE.hash.hex()}")
if ITEM_CODE.hash.hex() != ITEM_CODE_HASH:  # pragma: no cover - dependency drift
    raise RuntimeError(f"NFT item code hash changed: {ITEM_CODE.hash.hex()}")

OP_MINT = 1
OP_TRANSFER = 0x5FCC3D14


def collection_state_init(
    owner: Address,
    collection_uri: str,
    common_prefix: str,
    royalty_num: int,
    royalty_den: int,
    royalty_address: Address,
) -> StateInit:
    """The collection's StateInit: content `^(0x01 ++ collection_uri) ^(common_prefix)` (TEP-64
    off-chain; the common part carries no prefix byte), next index 0, the pinned item code."""
    data = NFTCollectionData(
        owner_address=owner,
        content=NFTCollectionContent(
            OffchainContent(collection_uri), OffchainCommonContent(common_prefix)
        ),
        royalty_params=RoyaltyParams(royalty_num, royalty_den, royalty_address),
        nft_item_code=ITEM_CODE,
        next_item_index=0,
    ).serialize()
    return StateInit(code=COLLECTION_CODE, data=data)


def state_init_address(state_init: StateInit, workchain: int = 0) -> Address:
    return Address((workchain, state_init.serialize().hash))


def item_address(collection: Address, index: int) -> Address:
    """The item's address: hash(StateInit(item_code, index:64 ++ collection)), exactly what the
    collection's `get_nft_address_by_index` returns. (pytoniq's NftItem.from_data is wrong.)"""
    data = begin_cell().store_uint(index, 64).store_address(collection).end_cell()
    return state_init_address(StateInit(code=ITEM_CODE, data=data))


def mint_body(
    index: int, owner: Address, content_suffix: str, item_value: int, query_id: int
) -> Cell:
    """op=1 deploy one item: `query_id item_index amount ^[owner ^suffix]`."""
    return NFTCollectionMintItemBody(
        item_index=index,
        item_ref=NFTItemStandardMintRef(owner, OffchainItemContent(content_suffix)).serialize(),
        forward_amount=item_value,
        query_id=query_id,
    ).serialize()


def transfer_body(
    new_owner: Address, response_destination: Address, query_id: int, forward_amount: int = 1
) -> Cell:
    """TEP-62 transfer (0x5fcc3d14); no custom payload; the forward_payload Either bit is stored
    (0 = inline, empty), which the item requires (exit 708 without it)."""
    return NFTTransferBody(
        destination=new_owner,
        response_address=response_destination,
        custom_payload=None,
        forward_payload=None,
        forward_amount=forward_amount,
        query_id=query_id,
    ).serialize()
